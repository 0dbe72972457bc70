// Progressive enhancement only: every page works without JavaScript.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Move focus to the first field with an error so keyboard and screen-reader users find it.
  const invalid = document.querySelector("[aria-invalid=true]");
  if (invalid) { invalid.focus(); }
});
