/* Fill each account <select> from one shared <template> of options.
   The page arrives with only the chosen option in every cell, so 800 cells do not mean 800 copies
   of the chart of accounts in the HTML; a cell is filled the moment it is touched, and the rest are
   filled in small batches in the background. */
(function () {
  "use strict";
  var template = document.getElementById("account-options");
  if (!template) { return; }
  var pending = Array.prototype.slice.call(document.querySelectorAll("select.account-cell"));

  function fill(select) {
    if (select.dataset.filled) { return; }
    select.dataset.filled = "1";
    var current = select.value;
    var currentOption = select.querySelector("option[value='" + CSS.escape(current) + "']");
    var currentLabel = currentOption ? currentOption.textContent : current;
    select.textContent = "";
    select.appendChild(template.content.cloneNode(true));
    select.value = current;
    if (select.value !== current) {
      /* The stored account is not a valid choice (hidden or gone): keep it visible and selected. */
      var option = document.createElement("option");
      option.value = current;
      option.textContent = currentLabel;
      select.appendChild(option);
      select.value = current;
    }
  }

  ["focusin", "pointerdown", "mouseover", "keydown"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      if (event.target && event.target.matches && event.target.matches("select.account-cell")) {
        fill(event.target);
      }
    }, true);
  });

  function batch() {
    var slice = pending.splice(0, 40);
    slice.forEach(fill);
    if (pending.length) { window.setTimeout(batch, 0); }
  }
  window.setTimeout(batch, 0);
})();
