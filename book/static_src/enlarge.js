// coursekit book: click a figure to open it at full size (in a new tab).
// Only images shown smaller than their natural size get the link.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".bd-article div.cell_output img").forEach(function (img) {
    function wrap() {
      if (img.closest("a") || img.naturalWidth <= img.clientWidth * 1.1) return;
      var link = document.createElement("a");
      link.href = img.src;
      link.target = "_blank";
      link.rel = "noopener";
      link.className = "coursekit-enlarge";
      link.title = "Open the full-size figure";
      img.parentNode.insertBefore(link, img);
      link.appendChild(img);
    }
    if (img.complete) wrap(); else img.addEventListener("load", wrap);
  });
});
