"""Who a resource is about: the patient links of every type, and a person's one Patient."""
