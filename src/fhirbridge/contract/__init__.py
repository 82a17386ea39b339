"""The patient contract (patientkontrakt, dokumenterad överenskommelse): its codes and rules."""
