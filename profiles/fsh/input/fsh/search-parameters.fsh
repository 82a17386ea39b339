Instance: CareTeam-role
InstanceOf: SearchParameter
Usage: #definition
Title: "CareTeam: a participant's role"
* url = "https://fhirbridge.se/fhir/SearchParameter/CareTeam-role"
* name = "role"
* status = #draft
* description = "A role of a participant in the care team: CareTeam?role=https://fhirbridge.se/fhir/CodeSystem/care-role|fast-vardkontakt finds the teams with a fixed care contact."
* code = #role
* base = #CareTeam
* type = #token
* expression = "CareTeam.participant.role"

Instance: Goal-expressed-by
InstanceOf: SearchParameter
Usage: #definition
Title: "Goal: who expressed it"
* url = "https://fhirbridge.se/fhir/SearchParameter/Goal-expressed-by"
* name = "expressed-by"
* status = #draft
* description = "Who expressed the goal: Goal?expressed-by=Patient/123 finds what matters to the patient in the patient's own words."
* code = #expressed-by
* base = #Goal
* type = #reference
* expression = "Goal.expressedBy"
* target[0] = #Patient
* target[1] = #Practitioner
* target[2] = #PractitionerRole
* target[3] = #RelatedPerson
