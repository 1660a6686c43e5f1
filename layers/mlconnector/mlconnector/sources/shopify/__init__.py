"""Shopify (Admin REST) store adapter.

Import from the modules (``settings``, ``source``, ``client``, ``mapping``, ``webhooks``): the
profile loads only ``settings``, so a function that never calls this system does not load its
client, and the webhook receiver loads only ``webhooks`` (standard library only).
"""
