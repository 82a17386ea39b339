from fhirbridge.cli.main import main

main()
