// Starts Swagger UI on /api/docs. A file of its own rather than an inline script, so that a
// Content-Security-Policy of script-src 'self' allows the page.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null, // the default badge would call an online validator
    tryItOutEnabled: false
  });
});
