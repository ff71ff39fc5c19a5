"""Adapters: the outside systems the services call, each behind a small port.

| module | port | real adapter | what the services ask of it |
|---|---|---|---|
| ``stepfunctions.py`` | ``StateMachine`` | ``StepFunctions`` | start an execution by name, read its status, |
| | | | answer a waiting task |
| ``mailer.py`` | ``Mailer`` | ``SesMailer``, ``LocalMailer`` | send one email; locally, keep it in the outbox |
| ``feed_objects.py`` | ``FeedObjects`` | ``S3FeedObjects`` | head, read, upload; presigned URLs |
| ``identity.py`` | ``IdentityProvider`` | ``Cognito`` | sign up, confirm, add to a group, delete, |
| | | | log in, refresh, sign out |

Each module has a getter that returns the real adapter, or the replacement a test installed
with its setter (the way ``services/payments.provider()`` serves the payment provider);
``tests/support/fakes.py`` holds in-memory fakes of every port. Nothing is created at import
time: a real adapter takes its client from ``clients.client`` when it is called.

botocore's errors stop here (``aws.py``): a call that may pass becomes
``errors.DependencyUnavailable``, any other refusal ``errors.DependencyFailed``; answers a
service acts on (an execution that already exists, a taken email, a wrong password) become
return values or the domain error the service already speaks. DynamoDB is not here: the stores
(``chalicelib/store``) are its adapters.
"""
