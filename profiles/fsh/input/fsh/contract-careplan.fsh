Profile: ContractCarePlan
Parent: CarePlan
Id: contract-careplan
Title: "Patientkontrakt (CarePlan)"
Description: "A patient contract (patientkontrakt, since 2024 dokumenterad överenskommelse): the patient's own coherent plan over all their care, written together with the patient. It says what matters to the patient (the goals), what the patient does, what care does, whom to contact and how, and the agreed next contact. Other plans (SIP and others) are CarePlans of their own, referenced from supportingInfo (the linked plans)."
* obeys contract-own-part and contract-care-part and contract-whom-to-contact and contract-next-contact
* intent = #plan
* category 1..* MS
* category ^slicing.discriminator.type = #pattern
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #open
* category ^slicing.description = "The contract is recognised by its plan-type category"
* category contains contract 1..1 MS
* category[contract] = $plan-type#patientkontrakt
* title 1..1 MS
* subject only Reference(Patient)
* subject MS
* period 1..1 MS
* period.start 1..1 MS
* author 1..1 MS
* author only Reference(Practitioner or PractitionerRole or Organization or CareTeam or Patient)
* contributor MS
* careTeam 1..* MS
* goal 1..* MS
* goal ^short = "What matters to the patient and the shared goal; at least one expressed by the patient"
* activity 1..* MS
* activity.detail.code MS
* activity.detail.code from ActivityKindVS (extensible)
* activity.detail.extension contains ContactChannel named contactChannel 0..* MS
* supportingInfo only Reference(CarePlan)
* supportingInfo MS
* supportingInfo ^short = "Linked plans: the patient's other plans (SIP, care plans, rehabilitation plan, Min vårdplan)"
* supportingInfo ^comment = "The link from the contract to a plan of its own (a municipality's SIP, a COPD care plan, a rehabilitation plan): a plain Reference(CarePlan) to an existing CarePlan of the same patient on this server (relative, an absolute URL of this server, or a conditional reference in a transaction; never contained, since the linked plan is kept by its owner). supportingInfo, not basedOn or partOf: R4 basedOn says the contract fulfils the other plan, and partOf that it is a component of a larger plan, but the contract does neither (DOMAIN.md: it stays a document of its own that links to the SIP); supportingInfo is the information considered as part of the plan, and leaves both plans' statuses independent."
* extension contains FixedContactReassessment named fixedContactReassessment 0..1 MS

Profile: ContractDeclinedOffer
Parent: CarePlan
Id: contract-declined-offer
Title: "Avböjt erbjudande om patientkontrakt (CarePlan)"
Description: "A patient contract that was offered and declined (seed 001: a declined offer is documented). It is not a contract: no goals, activities or care team, only the offer, when the patient declined it (extension offer-declined), who offered it (author) and for whom. fhirbridge checks every CarePlan of the contract category that carries offer-declined against this profile instead of the contract profile."
* extension contains OfferDeclined named offerDeclined 1..1 MS
* status = #revoked
* intent = #proposal
* category 1..* MS
* category ^slicing.discriminator.type = #pattern
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #open
* category ^slicing.description = "The offer is recognised by its plan-type category"
* category contains contract 1..1 MS
* category[contract] = $plan-type#patientkontrakt
* subject only Reference(Patient)
* subject MS
* author 1..1 MS
* author only Reference(Practitioner or PractitionerRole or Organization or CareTeam)
* author ^short = "Who offered the contract (counted per unit in the follow-up)"
* extension contains FixedContactReassessment named fixedContactReassessment 0..1 MS

Invariant: contract-own-part
Description: "Det här gör jag själv: the contract says what the patient does (an activity of kind egen-insats or egenvard)"
Expression: "activity.detail.code.coding.where(system = 'https://fhirbridge.se/fhir/CodeSystem/activity-kind').code.intersect('egen-insats' | 'egenvard').exists()"
Severity: #error

Invariant: contract-care-part
Description: "Det här gör vården: the contract says what care does (an activity of kind vardens-insats)"
Expression: "activity.detail.code.coding.where(system = 'https://fhirbridge.se/fhir/CodeSystem/activity-kind').code contains 'vardens-insats'"
Severity: #error

Invariant: contract-whom-to-contact
Description: "Vem jag kontaktar: the contract says whom to contact and how (an activity of kind kontaktvag)"
Expression: "activity.detail.code.coding.where(system = 'https://fhirbridge.se/fhir/CodeSystem/activity-kind').code contains 'kontaktvag'"
Severity: #error

Invariant: contract-next-contact
Description: "Överenskommen tid: the contract holds the agreed next contact (an activity of kind nasta-kontakt with a scheduled time, or a reference to an Appointment)"
Expression: "activity.reference.reference.where(startsWith('Appointment/')).exists() or activity.detail.where(code.coding.where(system = 'https://fhirbridge.se/fhir/CodeSystem/activity-kind').code contains 'nasta-kontakt').where(scheduledTiming.exists() or scheduledPeriod.exists() or scheduledString.exists()).exists()"
Severity: #error

Extension: ContactChannel
Id: contact-channel
Title: "Kontaktväg"
Description: "How the patient reaches care for this activity: phone, video, a 1177 message, web booking, a letter, a visit."
Context: CarePlan.activity.detail
* value[x] 1..1
* value[x] only Coding
* valueCoding from ContactChannelVS (required)
