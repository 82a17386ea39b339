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

Instance: contract-conversation
InstanceOf: Questionnaire
Usage: #definition
Title: "Samtal om patientkontrakt"
Description: "The question battery that supports staff in the contract conversation, from seed 001 (Region Gävleborg, handlingsplan för Patientkontrakt: \"Frågor som skulle kunna ingå i modulen Patientkontrakt hos regionen och kommunerna, som stöd för vårdens och omsorgens medarbetare\"). Staff ask the patient and record the answers; $extract turns a response into a draft contract (what matters and the shared goal with its ambition level as Goals expressed by the patient, the patient's own part, and a care team proposal with a fixed care contact when the patient wants help to coordinate) that a clinician completes and posts. Required: what matters, the shared goal and its ambition level, the patient's own part, and every yes/no question; the proposal of a fixed care contact opens when the patient wants help to coordinate, and then needs the unit that should appoint one."
* url = "https://fhirbridge.se/fhir/Questionnaire/contract-conversation"
* name = "ContractConversation"
* title = "Samtal om patientkontrakt"
* status = #active
* language = #sv
* subjectType = #Patient
* item[+].linkId = "what-matters"
* item[=].text = "Vad är viktigt för dig?"
* item[=].type = #text
* item[=].required = true
* item[+].linkId = "shared-goal"
* item[=].text = "Gemensamt mål – vilken ambitionsnivå ska vi ha för din vård?"
* item[=].type = #group
* item[=].required = true
* item[=].item[+].linkId = "shared-goal.description"
* item[=].item[=].text = "Målet, med dina egna ord"
* item[=].item[=].type = #text
* item[=].item[=].required = true
* item[=].item[+].linkId = "shared-goal.ambition"
* item[=].item[=].text = "Ambitionsnivå"
* item[=].item[=].type = #choice
* item[=].item[=].required = true
* item[=].item[=].answerValueSet = "https://fhirbridge.se/fhir/ValueSet/ambition-level"
* item[+].linkId = "own-part"
* item[=].text = "Vad kan du själv ansvara för i din vård?"
* item[=].type = #text
* item[=].required = true
* item[+].linkId = "has-fixed-contact"
* item[=].text = "Har du en Fast vårdkontakt?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "has-fixed-doctor"
* item[=].text = "Har du en Fast läkarkontakt i primärvården?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "knows-next-step"
* item[=].text = "Vet du ditt nästa steg?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "has-plan-overview"
* item[=].text = "Har du överblick över dina olika planer i vården?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "wants-coordination"
* item[=].text = "Vill du ha hjälp att samordna din vård?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "fixed-contact-proposal"
* item[=].text = "Om ja – säkerställ att en Fast vårdkontakt utses hos lämplig vårdaktör"
* item[=].type = #group
* item[=].enableWhen[+].question = "wants-coordination"
* item[=].enableWhen[=].operator = #=
* item[=].enableWhen[=].answerBoolean = true
* item[=].item[+].linkId = "fixed-contact-proposal.unit"
* item[=].item[=].text = "Vårdaktör (enhet) som ska utse en Fast vårdkontakt"
* item[=].item[=].type = #reference
* item[=].item[=].required = true
* item[=].item[=].extension[+].url = $referenceResource
* item[=].item[=].extension[=].valueCode = #Organization
* item[=].item[+].linkId = "fixed-contact-proposal.person"
* item[=].item[=].text = "Föreslagen Fast vårdkontakt"
* item[=].item[=].type = #reference
* item[=].item[=].required = false
* item[=].item[=].extension[+].url = $referenceResource
* item[=].item[=].extension[=].valueCode = #PractitionerRole

Instance: seven-questions-patient
InstanceOf: Questionnaire
Usage: #definition
Title: "Du och vården – hur funkar det? (patient)"
Description: "De 7 frågorna to patients, from seed 003 (\"Du och vården - hur funkar det?\", införande av patientkontrakt): a unit asks its patients, and the staff the mirrored seven-questions-staff, for feedback on how well the parts of the contract work. A unit has implemented contracts when patients and staff answer yes to all seven; the follow-up report shows the share of yes per question and unit, patients beside staff."
* url = "https://fhirbridge.se/fhir/Questionnaire/seven-questions-patient"
* name = "SevenQuestionsPatient"
* title = "Du och vården – hur funkar det? (patient)"
* status = #active
* language = #sv
* subjectType = #Patient
* item[+].linkId = "q1"
* item[=].prefix = "1."
* item[=].text = "Känner du att du kan ha fokus på att leva ditt liv och litar du på att du lätt får hjälp från vården när du behöver det?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "q2"
* item[=].prefix = "2."
* item[=].text = "Har du en överenskommelse med vården som utgår från vad som är viktigt för dig, där du vet vad du gör för att må bra och vad du gör om du blir sjuk och vad vården gör?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "q3"
* item[=].prefix = "3."
* item[=].text = "Har du enkla sätt att ta kontakt med vården?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "q4"
* item[=].prefix = "4."
* item[=].text = "Har du en fast vårdkontakt? (vid behov)"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "q5"
* item[=].prefix = "5."
* item[=].text = "Vet du ditt nästa steg?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "q6"
* item[=].prefix = "6."
* item[=].text = "Har du och vården kommit överens om din nästa tid tillsammans?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "q7"
* item[=].prefix = "7."
* item[=].text = "Har du en överblick av dina olika planer i vården och hjälp med samordning vid behov?"
* item[=].type = #boolean
* item[=].required = true

Instance: seven-questions-staff
InstanceOf: Questionnaire
Usage: #definition
Title: "Du och vården – hur funkar det? (medarbetare)"
Description: "De 7 frågorna to staff, mirroring seven-questions-patient, from seed 003 (\"Du och vården - hur funkar det?\", införande av patientkontrakt): staff answer for their unit (extension answered-for-unit on the response). A unit has implemented contracts when patients and staff answer yes to all seven. The wording is the seed's, including its typo in question 2 (\"vad de ka göra\", for \"vad de ska göra\")."
* url = "https://fhirbridge.se/fhir/Questionnaire/seven-questions-staff"
* name = "SevenQuestionsStaff"
* title = "Du och vården – hur funkar det? (medarbetare)"
* status = #active
* language = #sv
* subjectType = #Organization
* item[+].linkId = "q1"
* item[=].prefix = "1."
* item[=].text = "Vet ni om era patienter känner att de kan ha fokus på att leva sitt liv och litar på att de lätt får hjälp från er när de behöver det?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "q2"
* item[=].prefix = "2."
* item[=].text = "Har ni en överenskommelse med patienterna som utgår från vad som är viktigt för dem, där de vet vad de ska göra för att må bra och vad de ka göra om de blir sjuka och vad ni i vården ska göra?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "q3"
* item[=].prefix = "3."
* item[=].text = "Har patienterna enkla sätt att ta kontakt med er?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "q4"
* item[=].prefix = "4."
* item[=].text = "Erbjuder ni patienterna en fast vårdkontakt? (vid behov)"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "q5"
* item[=].prefix = "5."
* item[=].text = "Vet patienterna alltid sitt nästa steg?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "q6"
* item[=].prefix = "6."
* item[=].text = "Har ni och patienten tillsammans kommit överens om tiden för nästa kontakt?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "q7"
* item[=].prefix = "7."
* item[=].text = "Har era patienter en överblick av sina olika planer i vården och får hjälp med samordning vid behov?"
* item[=].type = #boolean
* item[=].required = true

Instance: five-questions-patient
InstanceOf: Questionnaire
Usage: #definition
Title: "Fem frågor till patienten"
Description: "The five-question variant of the follow-up questions to patients, from seed 002 (\"Fem frågor till patienten\"): fixed care contact, a plan built on what matters, an overview of plans and the next step, easy ways to contact care, and an agreed next time. Used like the seven questions: the share of yes per question and unit."
* url = "https://fhirbridge.se/fhir/Questionnaire/five-questions-patient"
* name = "FiveQuestionsPatient"
* title = "Fem frågor till patienten"
* status = #active
* language = #sv
* subjectType = #Patient
* item[+].linkId = "q1"
* item[=].prefix = "1."
* item[=].text = "Har du en fast vårdkontakt som stöd för att samordna din vård?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "q2"
* item[=].prefix = "2."
* item[=].text = "Har du en planering med vården som utgår från vad som är viktigt för dig?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "q3"
* item[=].prefix = "3."
* item[=].text = "Har du en överblick över dina planer och nästa steg i vården?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "q4"
* item[=].prefix = "4."
* item[=].text = "Har du enkla sätt att ta kontakt med vården när du behöver?"
* item[=].type = #boolean
* item[=].required = true
* item[+].linkId = "q5"
* item[=].prefix = "5."
* item[=].text = "Har du och vården tillsammans kommit överens om din nästa tid?"
* item[=].type = #boolean
* item[=].required = true
