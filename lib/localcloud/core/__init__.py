"""Protocol helpers shared by every localcloud service: requests, responses, errors, ARNs, clients, jobs."""
