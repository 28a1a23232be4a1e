"""The security scan in a real browser: the tags page says "Passed" for a clean image and shows the counts of a
vulnerable one; the counts lead to the image's security page, whose severity filter narrows the findings."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from registry_api import storage as storage_module
from scanning import services, tasks
from scanning.models import ScanStatus
from tests.browser.conftest import Shot, sign_in
from tests.conftest import LiveServer
from tests.factories import make_repository, make_user
from tests.scanning import images

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shared_storage(settings: Any, live_server_wharf: LiveServer) -> None:
    """Push into the live server's own blob store, so its pages read the images' configs (the layers' steps)."""
    settings.WHARF_STORAGE = {"BACKEND": "filesystem", "PATH": str(live_server_wharf.data_dir / "storage")}
    storage_module.backend.cache_clear()


def test_the_scan_column_leads_to_the_findings_which_filter_by_severity(page: Any, shot: Shot, client: Any,
                                                                         shared_storage: None) -> None:
    make_user("alice")
    app = make_repository("alice/app")
    images.import_fixtures()
    vulnerable = images.push_image(client, app, [images.debian_base(), images.app_layer(), images.cleanup_layer()],
                                   tag="vulnerable", history=["ADD base.tar /", "RUN pip install requests", "RUN rm"])
    clean = images.push_image(client, app, [images.alpine_base()], tag="clean")
    for manifest in (vulnerable, clean):
        services.queue(manifest.pk)
        assert tasks.scan_manifest(manifest.pk) == ScanStatus.DONE

    sign_in(page, "alice")
    page.goto("/repository/alice/app/tags/")
    expect(page.locator("tr[data-tag=clean] td.scan")).to_have_text("Passed")
    counts = page.locator("tr[data-tag=vulnerable] [data-testid=scan-counts]")
    expect(counts).to_have_text("1 high · 1 medium · 1 unknown")
    shot("tags")

    counts.click()
    page.wait_for_url(f"**/manifest/{vulnerable.digest}/security/")
    packages = page.locator("tbody.package")
    expect(packages).to_have_count(3)
    expect(packages.first).to_contain_text("lodash")
    expect(packages.first).to_contain_text("RUN pip install requests")
    shot("findings")

    page.get_by_test_id("severity-filter").select_option("medium")
    page.get_by_test_id("apply-filter").click()
    page.wait_for_url("**/security/?severity=medium")
    expect(packages).to_have_count(2)
    expect(page.locator("tbody.package[data-package=libssl3]")).to_have_count(0)
    expect(page.get_by_test_id("finding-total")).to_have_text("2 affected packages")
    shot("filtered")
