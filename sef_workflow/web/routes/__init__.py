"""The web app's routes, an ``APIRouter`` per area: sign-in, activities, tasks, the agency
portal, manager pages, assessments, reports, admin pages and the JSON API."""
