"""Stars through the API: a person stars what it may read, lists its stars, and unstars; robots and people
who may not see a repository cannot star it."""

from __future__ import annotations

from portal.repositories.models import RepositoryPermission, Star
from tests.api.conftest import error_of

APP = "/api/v1/repositories/acme/app"


def test_a_reader_stars_lists_and_unstars_a_repository(world, as_):
    reader = as_("reader")

    first = reader.put(f"{APP}/star/")
    again = reader.put(f"{APP}/star/")
    reader.put("/api/v1/repositories/acme/site/star/")
    stars = Star.objects.filter(user=world.users["reader"]).count()
    listed = reader.get("/api/v1/user/starred/").json()
    removed = reader.delete(f"{APP}/star/")

    assert (first.status_code, first.json()) == (200, {"repository": "acme/app", "starred": True})
    assert again.status_code == 200
    assert stars == 2
    assert [row["full_name"] for row in listed["results"]] == ["acme/site", "acme/app"]
    assert removed.status_code == 204
    assert reader.delete(f"{APP}/star/").status_code == 204   # unstarring twice is no error
    assert [row["full_name"] for row in reader.get("/api/v1/user/starred/").json()["results"]] == ["acme/site"]


def test_a_star_stops_being_listed_when_the_repository_is_no_longer_readable(world, as_):
    as_("reader").put(f"{APP}/star/")

    RepositoryPermission.objects.filter(user=world.users["reader"]).delete()

    assert as_("reader").get("/api/v1/user/starred/").json()["count"] == 0
    assert as_("reader").put(f"{APP}/star/").status_code == 404


def test_an_outsider_cannot_star_a_private_repository_it_cannot_see(world, as_):
    hidden = as_("outsider").put(f"{APP}/star/")
    missing = as_("outsider").put("/api/v1/repositories/acme/nothing/star/")

    assert hidden.status_code == missing.status_code == 404
    assert not Star.objects.exists()


def test_robots_and_nobody_have_no_stars(world, as_):
    robot = as_("robot").put(f"{APP}/star/")
    anonymous = as_("anonymous").put("/api/v1/repositories/acme/site/star/")

    assert robot.status_code == 403
    assert error_of(robot)["message"] == "Robot accounts cannot star repositories."
    assert anonymous.status_code == 401
    assert as_("robot").get("/api/v1/user/starred/").status_code == 403
    assert as_("anonymous").get("/api/v1/user/starred/").status_code == 401
    assert not Star.objects.exists()
