Profile: ContractGoal
Parent: Goal
Id: contract-goal
Title: "Patientkontrakt: mål (Goal)"
Description: "What matters to the patient (vad är viktigt för dig?) and the shared goal, in the patient's words."
* category 1..* MS
* category from GoalKindVS (extensible)
* description.text 1..1 MS
* subject only Reference(Patient)
* expressedBy 1..1 MS
* target.due[x] MS
* extension contains AmbitionLevel named ambitionLevel 0..1 MS
* extension[ambitionLevel] ^short = "The shared goal's ambition level (gemensamt mål)"

Extension: AmbitionLevel
Id: ambition-level
Title: "Ambitionsnivå"
Description: "The shared goal's ambition level, agreed with the patient (seed 001: \"Gemensamt mål – vilken ambitionsnivå ska vi ha för din vård?\"): high, balanced, or relief first."
Context: Goal
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from AmbitionLevelVS (required)
