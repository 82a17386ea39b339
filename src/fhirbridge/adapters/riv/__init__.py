"""RIV-TA: the Swedish national platform's SOAP 1.1 service contracts (RIVTABP21)."""
