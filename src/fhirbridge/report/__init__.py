"""The follow-up report (issue 13): projection (facts, projection), directory, filters,
queries, suppression, figures, engine (:func:`fhirbridge.report.engine.build_report`), renderings,
the HTTP endpoint and the command."""
