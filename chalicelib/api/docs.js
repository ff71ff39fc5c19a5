// Starts the vendored Swagger UI on /docs (chalicelib/api/openapi.py).
// The API's base URL is where this page is served (https://host/<stage>/docs → https://host/<stage>),
// so "Try it out" calls the API that serves the page, under a stage path too; the description's
// own server ("/") would drop that path.
(function () {
  "use strict";
  var base = window.location.href.replace(/[?#].*$/, "").replace(/\/docs\/?$/, "");
  fetch(base + "/openapi.json")
    .then(function (response) { return response.json(); })
    .then(function (spec) {
      spec.servers = [{ url: base, description: "this API" }];
      window.ui = SwaggerUIBundle({
        spec: spec,
        dom_id: "#swagger-ui",
        deepLinking: true,
        validatorUrl: null, // never send the description to a validator elsewhere
        persistAuthorization: false, // the token lives only as long as the page
        displayRequestDuration: true,
        presets: [SwaggerUIBundle.presets.apis],
        layout: "BaseLayout"
      });
    });
})();
