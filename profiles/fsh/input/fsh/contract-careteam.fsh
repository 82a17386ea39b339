Profile: ContractCareTeam
Parent: CareTeam
Id: contract-careteam
Title: "Patientkontrakt: vårdteam (CareTeam)"
Description: "The people around the patient's contract: the fixed care contact (fast vårdkontakt), the fixed doctor (fast läkarkontakt), treating roles, municipal contacts and relatives, each with a role, and a period that records when an assignment started and ended."
* status 1..1 MS
* subject 1..1 MS
* subject only Reference(Patient)
* participant 1..* MS
* participant.role 1..* MS
* participant.role from CareRoleVS (extensible)
* participant.member 1..1 MS
* participant.onBehalfOf MS
* participant.period MS
* telecom MS
* telecom ^short = "How the patient reaches the fixed care contact"
* extension contains FixedContactReassessment named fixedContactReassessment 0..1 MS
* participant.extension contains AssignmentEndReason named endReason 0..1 MS and OfferDeclined named offerDeclined 0..1 MS
* participant obeys contract-ended-assignment-has-reason

Invariant: contract-ended-assignment-has-reason
Description: "An ended assignment of a fixed care contact or fixed doctor records why it ended (extension assignment-end-reason), unless the offer was declined"
Expression: "(period.end.exists() and role.coding.where(system = 'https://fhirbridge.se/fhir/CodeSystem/care-role' and (code = 'fast-vardkontakt' or code = 'fast-lakarkontakt')).exists()) implies (extension('https://fhirbridge.se/fhir/StructureDefinition/assignment-end-reason').exists() or extension('https://fhirbridge.se/fhir/StructureDefinition/offer-declined').exists())"
Severity: #error

Extension: AssignmentEndReason
Id: assignment-end-reason
Title: "Varför uppdraget avslutades"
Description: "Why a participant's assignment (a fixed care contact, a fixed doctor) ended; participant.period.end says when. Seed 001: ending is done in agreement with the patient, and documented."
Context: CareTeam.participant
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from AssignmentEndReasonVS (extensible)

Extension: OfferDeclined
Id: offer-declined
Title: "Erbjudandet avböjdes"
Description: "The patient was offered this participant in this role (a fixed care contact, say) and declined, on this date; on a CarePlan, the patient was offered a contract and declined it. Seed 001: a declined offer is documented. A declined participant never held the role."
Context: CareTeam.participant, CarePlan
* value[x] 1..1
* value[x] only dateTime

Extension: FixedContactReassessment
Id: fixed-contact-reassessment
Title: "Omprövning av behovet av fast vårdkontakt"
Description: "When the need for a fixed care contact (fast vårdkontakt) is next re-assessed. Seed 001: the need is re-assessed continuously, and the assignment ended in agreement with the patient."
Context: CareTeam, CarePlan
* value[x] 1..1
* value[x] only date
