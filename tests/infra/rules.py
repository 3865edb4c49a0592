"""The template's queue and schedule rules as plain functions, so a test can also break them on purpose."""

MIN_VISIBILITY_FACTOR = 6


def sqs_event_sources(resources: dict) -> list[tuple[str, str, dict]]:
    """(function, queue resource, event properties) for every SQS event source in the template."""
    found = []
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                queue = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                found.append((name, queue, event["Properties"]))
    return found


def consumer_timeouts(resources: dict, default_timeout: int) -> dict[str, int]:
    """Longest timeout of any function consuming each queue."""
    timeouts: dict[str, int] = {}
    for function, queue, _ in sqs_event_sources(resources):
        timeout = resources[function]["Properties"].get("Timeout", default_timeout)
        timeouts[queue] = max(timeouts.get(queue, 0), timeout)
    return timeouts


def queue_problems(resources: dict, default_timeout: int = 30) -> list[str]:
    """Every work queue needs a DLQ, a maxReceiveCount and visibility >= 6x its consumer's timeout."""
    problems = []
    dead_letter_queues = {
        r["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for r in resources.values()
        if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in r.get("Properties", {})
    }
    timeouts = consumer_timeouts(resources, default_timeout)
    for name, resource in resources.items():
        if resource["Type"] != "AWS::SQS::Queue" or name in dead_letter_queues or name.endswith("DeadLetterQueue"):
            continue
        properties = resource.get("Properties", {})
        redrive = properties.get("RedrivePolicy")
        if not redrive:
            problems.append(f"{name} has no dead-letter queue")
        elif not 1 <= int(redrive.get("maxReceiveCount", 0)) <= 10:
            problems.append(f"{name} maxReceiveCount must be 1..10")
        visibility = int(properties.get("VisibilityTimeout", 30))
        if name in timeouts and visibility < MIN_VISIBILITY_FACTOR * timeouts[name]:
            problems.append(f"{name} visibility {visibility}s < 6x its consumer's {timeouts[name]}s timeout")
        if name not in timeouts:
            problems.append(f"{name} has no consumer")
    return problems


def schedule_expressions(resources: dict) -> dict[str, str]:
    """"Function.Event" -> its ScheduleV2 expression."""
    return {
        f"{name}.{event_name}": event["Properties"]["ScheduleExpression"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        for event_name, event in resource["Properties"].get("Events", {}).items()
        if event["Type"] == "ScheduleV2"
    }


# SAM policy templates whose expansion names one resource (others must be written as statements)
_TEMPLATES = {"AWSSecretsManagerGetSecretValuePolicy": ("secretsmanager:GetSecretValue", "SecretArn"),
              "SQSSendMessagePolicy": ("sqs:SendMessage*", "QueueName")}


def _resource_name(resource) -> str:
    """A template resource as the name the tests use: Ref/GetAtt -> the logical id, `${X.Arn}/*` -> X/*."""
    if resource == "*":
        return "*"
    if isinstance(resource, dict):
        if "Ref" in resource:
            return resource["Ref"]
        if "Fn::GetAtt" in resource:
            return resource["Fn::GetAtt"][0]
        if "Fn::Sub" in resource and isinstance(resource["Fn::Sub"], str):
            return resource["Fn::Sub"].replace("${", "").replace(".Arn}", "")
    raise ValueError(f"cannot name resource {resource!r}")


def permissions(function: dict) -> set[tuple[str, str]]:
    """Every (action, resource) a function's Policies grant; ValueError on a policy template that would
    grant more than one action (write it as a statement)."""
    granted = set()
    for policy in function["Properties"].get("Policies", []):
        if not isinstance(policy, dict):
            raise ValueError(f"managed policy {policy!r}: write the statements")
        for name, arguments in policy.items():
            if name == "Statement":
                for statement in arguments:
                    assert statement["Effect"] == "Allow"
                    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [
                        statement["Resource"]]
                    granted |= {(action, _resource_name(r)) for action in actions for r in resources}
            elif name in _TEMPLATES:
                action, argument = _TEMPLATES[name]
                granted.add((action, _resource_name(arguments[argument])))
            else:
                raise ValueError(f"policy template {name}: write the statements it needs instead")
    return granted
