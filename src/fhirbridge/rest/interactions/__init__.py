"""One module per FHIR interaction (R4 http.html), each a handler FhirRequest -> FhirResponse."""
