Profile: SEPatient
Parent: Patient
Id: se-patient
Title: "Svensk patient"
Description: "A patient identified the Swedish way, with the identifier systems of the HL7 Sweden base profiles: personnummer, samordningsnummer or national reserve number. The server checks their form, date and check digit."
* identifier 1..* MS
* identifier ^slicing.discriminator.type = #value
* identifier ^slicing.discriminator.path = "system"
* identifier ^slicing.rules = #open
* identifier ^slicing.description = "Swedish person identifiers by system"
* identifier contains personnummer 0..1 MS and samordningsnummer 0..1 MS and reservnummer 0..* MS
* identifier[personnummer].system 1..1
* identifier[personnummer].system = $personnummer
* identifier[personnummer].value 1..1
* identifier[personnummer].value obeys se-personnummer-form
* identifier[samordningsnummer].system 1..1
* identifier[samordningsnummer].system = $samordningsnummer
* identifier[samordningsnummer].value 1..1
* identifier[samordningsnummer].value obeys se-personnummer-form
* identifier[reservnummer].system 1..1
* identifier[reservnummer].system = $reservnummer
* identifier[reservnummer].value 1..1
* name 1..* MS

Invariant: se-personnummer-form
Description: "Twelve digits YYYYMMDDNNNC without a hyphen (the server also checks the date and the Luhn digit)"
Expression: "matches('^[0-9]{12}$')"
Severity: #error
