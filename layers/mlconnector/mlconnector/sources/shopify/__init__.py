"""Shopify store adapter: reads over the GraphQL Admin API, webhooks as the REST-shaped JSON Shopify delivers.

Import from the modules (``settings``, ``source``, ``client``, ``queries``, ``payloads``, ``mapping``,
``webhooks``): the
profile loads only ``settings``, so a function that never calls this system does not load its
client, and the webhook receiver loads only ``webhooks`` (standard library only).
"""
