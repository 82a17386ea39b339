"""FHIR Bulk Data 2.0 export (https://hl7.org/fhir/uv/bulkdata/export.html).

* :mod:`.plan`: what a kick-off asks for (``_type``, ``_since``, ``_typeFilter``), checked
  before anything is stored.
* :mod:`.jobs`: the ``export_jobs`` table: kick-off, claim with a lease, progress, the end.
* :mod:`.caller`: who asked, kept with the job, so that the worker reads as they may.
* :mod:`.writer`: NDJSON files, one per type, written from pages of a search through the access
  layer (bounded memory: one page at a time); the command line's ``fhirbridge export`` uses it too.
* :mod:`.worker`: the in-process worker that runs queued jobs and those an instance left behind.
* :mod:`.files`: where a job's files live on disk.
"""
