#!/usr/bin/env bash
# Test cases: each is a function named test_*; scripts/test.sh splits them across nodes.
test_greets_world() { [ "$(DEMO_DEPS=dist dist/greet)" = "Hello, world!" ]; }
test_greets_name() { [ "$(DEMO_DEPS=dist dist/greet Drover)" = "Hello, Drover!" ]; }
test_version_stamp() { [ -s dist/VERSION ]; }
test_service_on_localhost() { [ "$(curl -fs http://localhost:8080/)" = "pong" ]; }
test_service_by_name() { [ "$(curl -fs http://api:8080/)" = "pong" ]; }
test_ci_environment() { [ "$CI" = "true" ] && [ -n "$CIRCLE_SHA1" ]; }
