from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("registry_api", "0003_tag_event_recent"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="tag", name="tag_recent"),
        migrations.AddIndex(
            model_name="tag",
            index=models.Index(fields=["repository", "-updated_at", "name"], name="tag_recent"),
        ),
    ]
