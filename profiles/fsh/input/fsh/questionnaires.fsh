// The questionnaires of the contract conversation and its follow-up (issue 13).
// Question texts are the seeds' words, line breaks joined; tests/conformance/test_questionnaires.py
// holds them to the seeds.  The ids and linkIds are an interface: $extract and the report use them.

Extension: AnsweredForUnit
Id: answered-for-unit
Title: "Besvarad för enhet"
Description: "The unit (Organization) whose care the answers are about: staff answer the seven questions for their own unit, and a patient's answers count for the unit that cares for them."
Context: QuestionnaireResponse
* value[x] 1..1
* value[x] only Reference(Organization)
