"""The Chalice application: creates the app and registers the blueprints, nothing else."""

from chalice import Chalice

from chalicelib.api import (
    actions,
    admin,
    auth,
    cart,
    catalog,
    feeds,
    health,
    http,
    local_tools,
    money_admin,
    orders,
    payments,
    payouts,
    problems,
    promos,
    returns,
    search,
    shops,
    wallet,
)
from chalicelib.events import feed_sources, imports, reconcile, workflow

app = Chalice(app_name="marketplace")
app.api.binary_types.append("application/octet-stream")

for module in (health, problems, auth, shops, feeds, catalog, search, wallet, cart, promos, orders,
               actions, local_tools, money_admin, admin, payments, payouts, returns):
    app.register_blueprint(module.bp)
app.register_blueprint(http.edge)  # the middleware that keeps Chalice's own errors problem+json
app.register_blueprint(imports.bp)
app.register_blueprint(workflow.bp)
app.register_blueprint(reconcile.bp)
app.register_blueprint(feed_sources.bp)
