"""Shoppers' accepted corrections as extra training pictures (``shoplens-train train --feedback DATABASE_URL``).

A correction's picture joins the training part only. Every picture of the split that a
correction touches (same SHA-1, or a perceptual hash within the split's near-duplicate
distance: ``shoplens.splitfile.CorrectedPictures``) leaves the split: in the training part
the correction replaces it (one picture, the label a person decided), and in validation or
test it would score the model on what it was taught. ``shoplens-serve promote`` leaves the
same pictures out of its held-out set. The vocabulary stays the split's: a correction to a
category the split lacks is skipped, a colour it lacks is dropped, each counted.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass

from shoplens.imaging import DEFAULT_LIMITS
from shoplens.splitfile import CorrectedPictures, Sample, accepted_corrections, file_sha1
from shoplens.vocab import slug
from training.data import checked_sample
from training.splits import Split


@dataclass
class FeedbackTally:
    accepted: int = 0
    added: int = 0
    left_split: Counter[str] = dataclasses.field(default_factory=Counter)  # split pictures replaced, by part
    skipped: Counter[str] = dataclasses.field(default_factory=Counter)  # corrections not used, by reason

    def as_dict(self) -> dict[str, object]:
        return {"accepted": self.accepted, "added": self.added, "left_split": dict(self.left_split),
                "skipped": dict(self.skipped)}

    def __str__(self) -> str:
        return (f"feedback: {self.accepted} accepted corrections, {self.added} added to train; split pictures "
                f"left out as corrected {dict(self.left_split) or 'none'}; skipped {dict(self.skipped) or 'none'}")


def correction_samples(corrections: list, split: Split, tally: FeedbackTally) -> list[Sample]:
    """Training samples of the usable corrections, in the split's vocabulary."""
    categories = {s.category for s in split.samples}
    colours = {s.colour for s in split.samples if s.colour}
    samples = []
    for correction in corrections:
        if not correction.garment or not correction.category:
            tally.skipped["not_a_garment"] += 1
            continue
        category, colour = slug(correction.category), slug(correction.colour) if correction.colour else None
        if category not in categories:
            tally.skipped["category_not_in_split"] += 1
            continue
        if colour is not None and colour not in colours:
            tally.skipped["colour_dropped"] += 1  # still used, for its category
            colour = None
        checked = checked_sample((correction.picture_path, category, colour), DEFAULT_LIMITS)
        if isinstance(checked, str):
            tally.skipped[checked] += 1
            continue
        samples.append(dataclasses.replace(checked, split="train"))
    return samples


def with_feedback(split: Split, database_url: str) -> tuple[Split, FeedbackTally]:
    """The split with the accepted corrections in `database_url` added to its training part."""
    corrections = accepted_corrections(database_url)
    tally = FeedbackTally(accepted=len(corrections))
    added = correction_samples(corrections, split, tally)
    corrected = CorrectedPictures((c.sha1 for c in corrections), (s.phash for s in added), split.max_distance)
    kept = []
    for sample in split.samples:
        if corrected.touch(file_sha1(sample.path), sample.phash):
            tally.left_split[sample.split] += 1
        else:
            kept.append(sample)
    tally.added = len(added)
    return dataclasses.replace(split, samples=kept + added), tally
