"""``shoplens-serve promote``: a retrained bundle becomes the served model only when it is not worse.

The steps, each checked before the next:

1. Inputs: the bundle, the held-out pictures (the ``test`` part of the split file the bundle was
   trained with), the running TorchServes (the API's ``SHOPLENS_TORCHSERVE_URLS``,
   ``_MANAGEMENT_URLS`` and ``_KEY_FILES``), and
   the served default version, whose archive must be in the model store and whose vocabulary
   (categories, colours) the new bundle must have: the extension, the cache and stored
   corrections speak the served vocabulary. Any problem ends here, with nothing written or
   registered.
2. The held-out pictures less every picture an accepted correction touches (same SHA-1, or a
   perceptual hash within the split's near-duplicate distance; ``--feedback``), so the new model
   is never scored on a picture it was taught by a correction.
3. The bundle is archived as ``STORE/NAME-VERSION.mar`` and registered in every TorchServe as a
   new version of the same model name; a registration that fails is undone everywhere.
4. Both versions answer the same pictures through TorchServe's versioned prediction endpoint
   (``/predictions/NAME/VERSION``: exactly what the API would serve); a picture scores 1 when the
   top category is its label.
5. The decision. McNemar's exact test counts b (old right, new wrong) and c (new right, old
   wrong). The new version is promoted when c >= b: its accuracy on the same pictures is at
   least the old one's. "Not significantly worse" alone would promote a model that is worse on
   the evidence whenever the held-out set is small (b = 3, c = 0 has p = 0.25), so the rule
   never lets the served accuracy go down on what was measured; a tie promotes, because the
   held-out set leaves out exactly the corrected pictures, where the new version is the better
   one. The p-value says whether a difference is more than chance; it is printed, not required,
   so that a stream of small real improvements is not held back by a small held-out set.
6. Promoted: the new version becomes the default in every TorchServe (the old one stays
   registered, for a rollback). Refused: the new version is unregistered and its archive removed,
   the old default is untouched, and the command exits with status 3 saying why.

The API's cache keys answers by (picture, version) and asks TorchServe for the version it
looked up (``serving.api.inference``), so after the switch no answer of the old version is
served as the new one's, and no answer of the new one is filed under the old.
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.parse
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.api.inference import InferenceUnavailable, Instance, TorchServeClient, instances, send
from serving.operations.archive import DEFAULT_RECORD, archive, record_default
from shoplens import ShopLensError
from shoplens.bundle import MANIFEST_NAME, read_bundle
from shoplens.imaging import ImageRejected, decode_image, perceptual_hash
from shoplens.splitfile import CorrectedPictures, Sample, accepted_corrections, read_split_file
from shoplens.stats import Interval, Paired, mcnemar, t_interval

REFUSED = 3  # the exit status of a refused promotion (2: bad input or a failure, nothing changed)
CHUNK = 32  # pictures sent together: TorchServe batches them, and each chunk has its own deadline


@dataclass(frozen=True)
class Verdict:
    name: str
    old: str
    new: str
    old_accuracy: Interval
    new_accuracy: Interval
    paired: Paired
    left_out: int  # held-out pictures left out because a correction touches them
    promoted: bool

    def lines(self) -> list[str]:
        n = self.old_accuracy.n
        return [f"held-out pictures: n={n} (test split; {self.left_out} left out as corrected pictures)",
                f"old {self.name} {self.old}: accuracy {self.old_accuracy}",
                f"new {self.name} {self.new}: accuracy {self.new_accuracy}",
                f"McNemar's exact test on the same {n} pictures: b={self.paired.b} (old right, new wrong), "
                f"c={self.paired.c} (new right, old wrong), p={self.paired.p:.4g}"]

    def outcome(self) -> str:
        if self.promoted:
            return (f"promoted: {self.new} is the default version of {self.name} (c >= b); {self.old} stays "
                    f"registered: `PUT /models/{self.name}/{self.old}/set-default` rolls back (and deleting "
                    f"{DEFAULT_RECORD} from the model store keeps the rollback over a TorchServe restart)")
        return (f"refused: {self.new} is worse on the same pictures (b={self.paired.b} > c={self.paired.c}); "
                f"{self.old} stays the default, {self.new} was unregistered")


def corrected_pictures(database_url: str, max_distance: int) -> CorrectedPictures:
    """The pictures of the accepted corrections in `database_url` (an unreadable one is matched by SHA-1 only)."""
    corrections = accepted_corrections(database_url)
    phashes = []
    for correction in corrections:
        try:
            phashes.append(perceptual_hash(decode_image(correction.picture_path)))
        except (OSError, ImageRejected):
            pass
    return CorrectedPictures((c.sha1 for c in corrections), phashes, max_distance)


def held_out(split_file: Path, feedback: str | None) -> tuple[list[Sample], list[bytes], int]:
    """The test part of `split_file` less corrected pictures, their bytes, and how many were left out."""
    meta, samples = read_split_file(split_file)
    test = [s for s in samples if s.split == "test"]
    if not test:
        raise ShopLensError(f"{split_file} has no test part to compare the versions on; split with a test share "
                            "(--scheme 60/20/20)")
    left_out = 0
    try:
        if feedback:
            test, left_out = corrected_pictures(feedback, int(meta.get("max_distance", 4))).held_out(test)
        pictures = [s.path.read_bytes() for s in test]
    except OSError as exc:
        raise ShopLensError(f"a held-out picture of {split_file} cannot be read: {exc}") from None
    if not test:
        raise ShopLensError(f"every test picture of {split_file} is a corrected picture: nothing left to compare on")
    return test, pictures, left_out


class ModelServers:
    """The TorchServes the API talks to, for one model name: its versions, registration, default."""

    def __init__(self, client: TorchServeClient) -> None:
        self.client, self.name = client, client.settings.model_name
        self.instances: list[Instance] = client.instances

    def ask(self, instance: Instance, method: str, path: str, timeout: float = 30) -> tuple[int, Any]:
        try:
            status, body = send(instance, "management", method, path, timeout=timeout)
        except (OSError, InferenceUnavailable) as exc:
            raise ShopLensError(f"TorchServe at {instance.management_url} is unreachable: {exc}") from None
        try:
            return status, json.loads(body or b"null")
        except ValueError:
            return status, body.decode(errors="replace")

    def described(self, version: str = "all") -> list[dict[str, Any]]:
        """TorchServe's description of the model's default version ("" ), one version, or all of them."""
        path = f"/models/{self.name}" + (f"/{version}" if version else "")
        status, body = self.ask(self.instances[0], "GET", path)
        if status != 200:
            raise ShopLensError(f"model {self.name!r} is not registered in TorchServe at "
                                f"{self.instances[0].management_url} ({status}: {body})")
        return body

    def register(self, mar: str, version: str) -> None:
        """Register STORE/MAR in every instance (workers and batching from its model-config); all or none."""
        done = []
        for instance in self.instances:
            status, body = self.ask(instance, "POST", f"/models?url={urllib.parse.quote(mar)}&synchronous=true",
                                    timeout=180)
            if status != 200:
                self.withdraw(version, done)
                raise ShopLensError(f"registering {mar} in {instance.management_url} failed ({status}): {body}")
            done.append(instance)

    def withdraw(self, version: str, servers: list[Instance], default: str | None = None) -> None:
        """Unregister `version` from `servers`, making `default` their default first where given."""
        for instance in servers:
            if default:
                self.ask(instance, "PUT", f"/models/{self.name}/{default}/set-default")
            self.ask(instance, "DELETE", f"/models/{self.name}/{version}", timeout=60)

    def set_default(self, version: str) -> None:
        for instance in self.instances:
            status, body = self.ask(instance, "PUT", f"/models/{self.name}/{version}/set-default")
            if status != 200:
                raise ShopLensError(f"setting {version} as the default in {instance.management_url} failed "
                                    f"({status}: {body})")

    def scores(self, version: str, samples: list[Sample], pictures: list[bytes]) -> list[bool]:
        """Per picture, whether `version`'s top category is its label (an undecodable picture scores 0)."""
        answers: list[dict[str, Any]] = []
        try:
            for start in range(0, len(pictures), CHUNK):
                answers += self.client.classify_many(pictures[start:start + CHUNK], version)
        except InferenceUnavailable as exc:
            raise ShopLensError(f"version {version} did not answer the held-out pictures: {exc}") from None
        return [answer.get("category") == sample.category for sample, answer in zip(samples, answers, strict=True)]


def served_vocabulary(store: Path, described: dict[str, Any]) -> dict[str, list[str]]:
    """The labels of the served version, from bundle.json inside its archive in the model store."""
    mar = store / described["modelUrl"]
    try:
        with zipfile.ZipFile(mar) as archived:
            return json.loads(archived.read(MANIFEST_NAME))["tasks"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ShopLensError(f"the served version's archive {mar} is not readable ({exc}); give the running "
                            "TorchServe's model store as --store") from None


def promote(bundle: Path, store: Path, split_file: Path, feedback: str | None, client: TorchServeClient,
            say: Callable[[str], None] = print) -> Verdict:
    info, _ = read_bundle(bundle)
    samples, pictures, left_out = held_out(split_file, feedback)
    unknown = sorted({s.category for s in samples} - set(info.tasks["category"]))
    if unknown:
        raise ShopLensError(f"the bundle's categories {info.tasks['category']} lack the held-out labels {unknown}")
    servers = ModelServers(client)
    (default,) = servers.described("")
    old = str(default["modelVersion"])
    served = served_vocabulary(store, default)
    if served != info.tasks:
        raise ShopLensError(f"the bundle's vocabulary {info.tasks} is not the served version {old}'s {served}: "
                            "a new version must answer in the labels shoppers and stored corrections use")
    if info.version in {str(v["modelVersion"]) for v in servers.described()}:
        raise ShopLensError(f"version {info.version} of {servers.name} is already registered")
    mar = f"{servers.name}-{info.version}.mar"
    with tempfile.TemporaryDirectory(dir=store) as staging:  # the store's file system: the move is atomic
        os.replace(archive(bundle, Path(staging), servers.name), store / mar)
    try:
        servers.register(mar, info.version)
    except ShopLensError:
        (store / mar).unlink()
        raise
    say(f"registered {mar} as version {info.version} of {servers.name} beside the default {old}")
    try:
        old_right = servers.scores(old, samples, pictures)
        new_right = servers.scores(info.version, samples, pictures)
        paired = mcnemar(old_right, new_right)
        verdict = Verdict(servers.name, old, info.version, t_interval(old_right), t_interval(new_right), paired,
                          left_out, promoted=paired.c >= paired.b)
        if verdict.promoted:
            servers.set_default(info.version)
            record_default(store, servers.name, info.version, mar)
    except BaseException:
        servers.withdraw(info.version, servers.instances, default=old)
        (store / mar).unlink()
        raise
    if not verdict.promoted:
        servers.withdraw(info.version, servers.instances)
        (store / mar).unlink()
    return verdict


def new_client(model_name: str | None) -> TorchServeClient:
    """A client of the TorchServes the API's SHOPLENS_TORCHSERVE_URLS, _MANAGEMENT_URLS and _KEY_FILES name."""
    from serving.api.config import Settings

    settings = Settings(**({"model_name": model_name} if model_name else {}))
    try:
        instances(settings)
    except ValueError as exc:
        raise ShopLensError(str(exc)) from None
    return TorchServeClient(settings)
