"""PeopleSoft Financials target: Component Interface web services over the Integration Broker.

Import from the modules (``settings``, ``target``, ``client``, ``mapping``): the profile
loads only ``settings``, so a function that never calls this system does not load its client.
"""
