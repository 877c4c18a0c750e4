"""The admin, Django's set_language view, and a home page with the language form."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import include, path


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


urlpatterns = [
    path("", home),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
]
