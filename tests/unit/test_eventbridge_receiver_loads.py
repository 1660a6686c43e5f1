"""The EventBridge receiver loads what the HTTPS receiver loads and nothing heavier: the published profile's
webhook view and the stores' webhooks modules, no pydantic, PyYAML, requests, canonical models or ERP client."""

from __future__ import annotations

from tests.unit.test_what_functions_load import _RECEIVER_CHILD, HEAVY, modules_loaded, published_examples


def test_the_eventbridge_receiver_loads_no_pydantic_yaml_http_client_models_or_erp(tmp_path):
    loaded = modules_loaded(_RECEIVER_CHILD, "eventbridge_receiver", published_examples(tmp_path))
    assert {"mlconnector.pipeline.receiver", "mlconnector.sources.shopify.webhooks"} <= loaded
    heavy = ["pydantic", "yaml", "requests", "oauthlib", "mlconnector.models", "mlconnector.profile", *HEAVY]
    assert [name for name in heavy if name in loaded] == []
