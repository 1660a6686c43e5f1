"""`mlc`: the operators' command line for ml-connector."""
