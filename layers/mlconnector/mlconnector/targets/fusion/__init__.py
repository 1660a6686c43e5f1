"""Oracle Fusion Cloud ERP target: Receivables invoices, standard receipts and credit memos over REST.

Import from the modules (``settings``, ``target``, ``client``, ``mapping``): the profile
loads only ``settings``, so a function that never calls this system does not load its client.
"""
