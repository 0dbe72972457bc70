// Progressive enhancement only: every page works without JavaScript.
"use strict";

function pollCardLogin(box) {
  const url = box.dataset.jpkiPoll;
  const form = document.getElementById("jpki-complete");
  let done = false;
  // One submission only: the script continues by itself once the card has answered, and a
  // click on the button at the same moment would send a second request that finds the
  // one-time challenge already used (and its answer would replace the first page).
  form.addEventListener("submit", (event) => {
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
    done = true;
  });
  // Back to this page from the history cache: the earlier submission is over.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) { delete form.dataset.sent; }
  });
  const show = (text, isError) => {
    box.replaceChildren();
    const p = document.createElement("p");
    p.textContent = text;
    if (isError) { p.className = "form-error"; }
    box.appendChild(p);
  };
  const tick = async () => {
    if (done) { return; }
    try {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      const body = await response.json();
      if (body.state === "verified") {
        done = true;
        show(box.dataset.textVerified, false);
        if (!form.dataset.sent) {
          form.dataset.sent = "1";
          form.submit();
        }
        return;
      }
      if (body.state === "failed") { show(body.message, true); }
      if (body.state === "expired" || body.state === "none") {
        done = true;
        show(box.dataset.textExpired, true);
        return;
      }
    } catch (err) {
      // A network hiccup: try again on the next tick.
    }
    window.setTimeout(tick, 1000);
  };
  window.setTimeout(tick, 500);
}

document.addEventListener("DOMContentLoaded", () => {
  // Move focus to the first field with an error so keyboard and screen-reader users find it.
  const invalid = document.querySelector("[aria-invalid=true]");
  if (invalid) { invalid.focus(); }
  const box = document.querySelector("[data-jpki-poll]");
  if (box) { pollCardLogin(box); }
});
