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
