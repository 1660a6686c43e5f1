"""WooCommerce (REST ``wc/v3``) store adapter.

Import from the modules (``settings``, ``source``, ``client``, ``mapping``): the profile
loads only ``settings``, so a function that never calls this system does not load its client.
"""
