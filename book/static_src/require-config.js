// Loaded after require.js and before embed-amd.js (see nb_ipywidgets_js in
// _config.yml). The widget bundle finds its Font Awesome files next to the AMD
// module "@jupyter-widgets/html-manager/dist/libembed-amd"; without this mapping
// RequireJS resolves that module relative to the page, where no fonts exist.
// Map it to the folder this script was served from, _static/widgets/.
(function () {
  var here = document.currentScript.src;
  var folder = here.slice(0, here.lastIndexOf("/"));
  window.require.config({
    paths: { "@jupyter-widgets/html-manager/dist": folder },
  });
})();
