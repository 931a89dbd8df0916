"""serving.routing: lean routes validate their path and query with models, and refuse dependencies."""
from __future__ import annotations

import pytest
from fastapi import Depends, FastAPI, Request, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field

from serving.routing import lean_get


class ShelfPath(BaseModel):
    shelf: str = Field(max_length=5)


class ShelfQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int = Field(3, ge=1)


async def shelf(request: Request, path: ShelfPath, query: ShelfQuery) -> Response:
    return Response(f"{path.shelf}:{query.k}".encode(), media_type="text/plain")


def deny() -> None:
    raise AssertionError("a dependency of a lean route ran")


def test_a_lean_route_validates_its_path_and_query_and_publishes_them():
    app = FastAPI()
    extra = {"parameters": [{"name": "X-Shop", "in": "header", "required": False, "schema": {"type": "string"}}]}
    lean_get(app.router, "/shelves/{shelf}", path_model=ShelfPath, query_model=ShelfQuery, openapi_extra=extra)(shelf)
    client = TestClient(app)
    assert client.get("/shelves/tea?k=7").text == "tea:7"
    assert client.get("/shelves/tea").text == "tea:3"
    too_long = client.get("/shelves/teapots")
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["loc"] == ["path", "shelf"]
    assert client.get("/shelves/tea?k=0").json()["detail"][0]["loc"] == ["query", "k"]
    assert "unknown query parameter" in client.get("/shelves/tea?kk=1").json()["detail"]
    parameters = client.get("/openapi.json").json()["paths"]["/shelves/{shelf}"]["get"]["parameters"]
    assert [(p["name"], p["in"]) for p in parameters] == [("X-Shop", "header"), ("shelf", "path"), ("k", "query")]


@pytest.mark.parametrize("where", ["route", "app"])
def test_a_lean_route_refuses_dependencies_that_would_not_run(where):
    app = FastAPI(dependencies=[Depends(deny)] if where == "app" else None)
    options = {"dependencies": [Depends(deny)]} if where == "route" else {}
    with pytest.raises(ValueError, match="cannot have dependencies"):
        lean_get(app.router, "/shelves/{shelf}", path_model=ShelfPath, **options)(shelf)
