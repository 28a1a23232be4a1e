from django.contrib import admin

from portal.repositories.models import Repository

admin.site.register(Repository)
