// "Wrong label?": a dialog (lib/dialog.js) where the shopper picks the right category and colour
// from the model's vocabulary, or "not a garment". The badge shows the correction at once; it is
// sent (through the service worker) only once the shopper agreed: the first time, the dialog
// says exactly what is sent and asks.
(function (root) {
  "use strict";

  const { dialog: { Dialog, element }, corrections: Corrections } = root.ShopLens;
  const STYLE = `
    label { display: block; margin: 8px 0; }
    select { display: block; width: 100%; margin-top: 2px; }
    .consent { padding: 8px; background: #f0fdfa; border: 1px solid #115e59; }
    .buttons { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 12px; }
  `;

  function select(doc, id, names, chosen) {
    const node = element(doc, "select", { id });
    for (const name of names) node.append(element(doc, "option", { value: name, textContent: name, selected: name === chosen }));
    return node;
  }

  class CorrectionPanel extends Dialog {
    /** `picture`: {answer} as the model gave it; `consent`: settings.sendCorrections (null: never
     * asked); `ask(message)`: the service worker; `onCorrect(correction)`: shows it on the badge;
     * `agree(yes)`: saves the shopper's answer to the consent prompt. */
    constructor(doc, { answer, consent, ask, onCorrect, agree }) {
      super(doc, "shoplens-correction", "Wrong label?", STYLE);
      Object.assign(this, { answer, consent, ask, onCorrect, agree });
      this.status = element(doc, "p", { role: "status" });
      this.body.append(element(doc, "p", { textContent: `ShopLens said: ${root.ShopLens.labels.badgeText(answer)}` }),
        this.status);
    }

    async show(returnFocus) {
      this.attach(returnFocus);
      this.status.textContent = "Asking for the model's labels…";
      const vocabulary = await this.ask({ type: "vocabulary" });
      if (!vocabulary || vocabulary.error) {
        this.status.textContent = `Cannot correct this label: ${vocabulary ? vocabulary.error : "no answer"}`;
        return;
      }
      this.vocabulary = vocabulary;
      this.status.textContent = "";
      this.body.append(this.buildForm());
      this.fields.category.focus();
    }

    buildForm() {
      const doc = this.doc;
      this.fields = {};
      const { category, colour } = this.vocabulary;
      this.fields.category = select(doc, "category", category, this.answer.category);
      this.fields.colour = select(doc, "colour", colour, this.answer.colour && this.answer.colour.label);
      this.fields.notGarment = element(doc, "input", { type: "checkbox", id: "not-garment" });
      this.fields.notGarment.addEventListener("change", () => {
        this.fields.category.disabled = this.fields.colour.disabled = this.fields.notGarment.checked;
      });
      const fields = [element(doc, "label", { textContent: "Category" }, [this.fields.category]),
        ...(colour.length ? [element(doc, "label", { textContent: "Colour" }, [this.fields.colour])] : []),
        element(doc, "label", {}, [this.fields.notGarment, " Not a garment"])];
      const button = (id, text) => element(doc, "button", { type: "button", id, textContent: text });
      let buttons;
      if (this.consent === null) { // asked once: what is sent, then the shopper's choice
        fields.push(element(doc, "p", { className: "consent", id: "consent", textContent: Corrections.WHAT_IS_SENT }));
        buttons = [button("agree", "Agree and send"), button("local", "Don't send: change this page only")];
      } else if (this.consent) {
        buttons = [button("send", "Send correction")];
      } else {
        fields.push(element(doc, "p", { textContent: "Sending corrections is off (ShopLens options): "
          + "the badge changes on this page only." }));
        buttons = [button("local", "Change the badge")];
      }
      const form = element(doc, "form", {}, [...fields, element(doc, "div", { className: "buttons" }, buttons)]);
      form.addEventListener("click", (event) => {
        const id = event.target.closest && event.target.closest("button") && event.target.id;
        if (["agree", "send", "local"].includes(id)) this.submit(id);
      });
      form.addEventListener("submit", (event) => event.preventDefault());
      return form;
    }

    correction() {
      if (this.fields.notGarment.checked) return { garment: false };
      const colour = this.vocabulary.colour.length ? this.fields.colour.value : "";
      return { garment: true, category: this.fields.category.value, ...(colour ? { colour } : {}) };
    }

    async submit(how) {
      const correction = this.correction();
      if (this.consent === null) await this.agree(how === "agree"); // asked once: the answer is kept
      this.onCorrect(correction); // the badge changes at once, sent or not
      if (how === "local") {
        this.close();
        return;
      }
      this.status.textContent = "Sending…";
      const result = await this.ask({ type: "feedback", correction, answer: this.answer });
      if (result && result.sent) this.close();
      else this.status.textContent = `Not sent: ${result ? result.error : "no answer"} (the badge shows your label)`;
    }

    /** Opens the page's one correction dialog for a picture's `answer` (see the constructor). */
    static open(doc, options, returnFocus) {
      const panel = Dialog.replace(new CorrectionPanel(doc, options));
      return panel.show(returnFocus).then(() => panel);
    }
  }

  root.ShopLens = Object.assign(root.ShopLens || {}, { CorrectionPanel });
  if (typeof module !== "undefined") module.exports = { CorrectionPanel };
})(globalThis);
