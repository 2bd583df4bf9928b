// A search box that narrows a checkbox list (the co-organiser picker): <input data-filter-for="LIST_ID">.
// Ticked boxes stay visible, so a choice is never hidden by a later search. No inline script (CSP).
document.querySelectorAll("input[data-filter-for]").forEach(function (box) {
  var list = document.getElementById(box.getAttribute("data-filter-for"));
  if (!list) return;
  box.addEventListener("input", function () {
    var words = box.value.trim().toLowerCase();
    list.querySelectorAll("li").forEach(function (item) {
      var ticked = item.querySelector("input:checked") !== null;
      var match = !words || item.textContent.toLowerCase().indexOf(words) !== -1;
      item.hidden = !(match || ticked);
    });
  });
});
