"""JD Edwards EnterpriseOne target: AIS orchestrations for GL batches and Address Book, data service lookups.

Import from the modules (``settings``, ``target``, ``client``, ``mapping``): the profile
loads only ``settings``, so a function that never calls this system does not load its client.
"""
