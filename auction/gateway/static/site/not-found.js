// The 404 page: the chrome only, so a lost visitor can find their way.
import {mount} from "../js/shell.js";

mount({title: "Page not found"});
