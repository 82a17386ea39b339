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
