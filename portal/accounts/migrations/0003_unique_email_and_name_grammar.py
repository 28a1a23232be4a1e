"""E-mail addresses become unique in any case; team and robot names take the user and organization grammar.

Before the constraint goes on, addresses held by several accounts (compared as the constraint compares, with
lower()) are resolved: the earliest-joined account keeps the address, the others have it cleared, and each
case is printed so that an administrator can tell the people concerned to set a new address.
"""

import django.core.validators
import django.db.models.functions.text
from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import Lower

NAME_VALIDATOR = django.core.validators.RegexValidator(
    "^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\\Z",
    "Use lower-case letters, digits and single separators (. _ -) between them, e.g. 'ci' or 'deploy-bot'.",
)


def resolve_duplicate_emails(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    users = User.objects.exclude(email="").annotate(folded=Lower("email"))
    duplicated = (users.values("folded").annotate(holders=Count("pk")).filter(holders__gt=1)
                  .values_list("folded", flat=True))
    for folded in list(duplicated):
        holders = list(users.filter(folded=folded).order_by("date_joined", "pk").values_list("pk", "username",
                                                                                              "email"))
        keeper, others = holders[0], holders[1:]
        User.objects.filter(pk__in=[pk for pk, _, _ in others]).update(email="")
        print(f"\n  accounts.0003: the address {keeper[2]!r} was on {len(holders)} accounts; kept on "
              f"{keeper[1]!r} (joined first), cleared on {', '.join(repr(name) for _, name, _ in others)}.")


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_organizations_teams_robots_tokens"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(resolve_duplicate_emails, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="robot",
            name="name",
            field=models.CharField(max_length=64, validators=[NAME_VALIDATOR]),
        ),
        migrations.AlterField(
            model_name="team",
            name="name",
            field=models.CharField(max_length=64, validators=[NAME_VALIDATOR]),
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("email"), condition=models.Q(("email", ""), _negated=True),
                name="user_email_ci_unique", violation_error_message="That e-mail address is used by another account.",
            ),
        ),
    ]
