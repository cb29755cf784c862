// Changes the language as soon as one is chosen. A static file rather than an onchange
// attribute: the Content-Security-Policy allows no inline script without the page's nonce.
document.addEventListener("DOMContentLoaded", function () {
  var select = document.getElementById("language-select");
  if (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  }
});
