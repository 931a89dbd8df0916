"""The API's routes, one router per concern; :data:`ROUTERS` in the order the app includes them
(Starlette tries routes in order: the per-page-view routes first)."""
from serving.routes import (
    admin,
    audiences,
    campaigns,
    events,
    items,
    lots,
    merchants,
    operations,
    pages,
    recommendations,
)

ROUTERS = (recommendations.router, items.router, events.router, merchants.router, audiences.router, lots.router,
           admin.router, items.admin_router, audiences.admin_router, lots.admin_router, campaigns.router,
           operations.router, pages.router)

__all__ = ["ROUTERS"]
