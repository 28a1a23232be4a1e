from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("registry_api", "0006_upload_owner"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="tag", name="tag_recent"),
        migrations.AddIndex(
            model_name="tag",
            index=models.Index(fields=["repository", "-updated_at", "name", "expires_at"], name="tag_recent"),
        ),
    ]
