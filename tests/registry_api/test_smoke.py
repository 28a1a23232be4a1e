import pytest
from django.conf import settings

from tests.factories import bearer


@pytest.mark.django_db
def test_the_api_root_challenges_anonymous_callers(client):
    response = client.get("/v2/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Bearer realm="http://testserver/v2/auth"')
    assert response["Docker-Distribution-API-Version"] == "registry/2.0"


@pytest.mark.django_db
def test_the_api_root_answers_a_token_holder(client, alice):
    response = client.get("/v2/", HTTP_AUTHORIZATION=bearer("alice"))
    assert response.status_code == 200


def test_the_suite_keeps_its_state_out_of_the_project():
    assert "wharf-test-" in str(settings.DATA_DIR)
